/* Placeholder until the HTTP client is implemented. */
#include "net/http.h"
