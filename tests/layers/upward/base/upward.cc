// A base file that reaches up into the domain: the layer check must refuse it.
#include "base/allowed.h"
#include "domain/types.h"
