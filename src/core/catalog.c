#include "catalog.h"
/* placeholder */
