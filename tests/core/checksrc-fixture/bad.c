/* Fixture for the checksrc self-test: must be flagged. */
#include <string.h>
void copy(char *dst, const char *src);
void copy(char *dst, const char *src) { strcpy(dst, src); }
