/* ota-worker: placeholder until the worker issue lands */
#include <stdio.h>

int
main(void)
{
    fprintf(stderr, "ota-worker: not implemented yet\n");
    return 1;
}
