// What freestanding C++ needs in the kernel that no library gives it here: the operator
// delete a virtual destructor's deleting variant refers to, and the pure virtual call handler.
// The driver never allocates C++ objects on the heap (UrbUsbIo lives in the device extension,
// made with placement new), so these are never reached in a correct driver.
#include <stddef.h>

#include "drivers_under_test/reference_rdf/windows/kernel_headers.h"

void operator delete(void* pointer) noexcept {
  if (pointer) ExFreePool(pointer);
}

void operator delete(void* pointer, size_t) noexcept {
  if (pointer) ExFreePool(pointer);
}

// A call through a vtable slot that was never overridden: memory corruption. Stop here (the
// invalid opcode becomes a bug check) rather than run on.
extern "C" void __cxa_pure_virtual() { __builtin_trap(); }
