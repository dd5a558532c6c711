/* The two-line implementation file a build system would use. */
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"
