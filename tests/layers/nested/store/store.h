#pragma once
// The interface: anyone above the store may include it.
