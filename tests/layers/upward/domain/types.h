#pragma once
#include "base/allowed.h"
