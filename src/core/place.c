#include "place.h"
/* placeholder */
