/* The library version (include/ustack/ustack.h). */
#include "ustack/ustack.h"

#define UST_STR_(x) #x
#define UST_STR(x) UST_STR_(x)

const char *ust_version(void)
{
    return UST_STR(UST_VERSION_MAJOR) "." UST_STR(UST_VERSION_MINOR) "." UST_STR(UST_VERSION_PATCH);
}
