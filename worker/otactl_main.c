/* otactl: placeholder until the worker issue lands */
#include <stdio.h>

int
main(void)
{
    fprintf(stderr, "otactl: not implemented yet\n");
    return 1;
}
