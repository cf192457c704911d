// A domain file that reaches for an implementation of the store: the layer check must
// refuse it, although the folder is the store's.
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"
