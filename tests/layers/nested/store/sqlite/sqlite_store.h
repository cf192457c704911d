#pragma once
// An implementation inside the interface's folder, which includes the interface.
#include "store/store.h"
