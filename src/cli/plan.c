/* placeholder */
int cli_placeholder(void);
int cli_placeholder(void)
{
    return 0;
}
