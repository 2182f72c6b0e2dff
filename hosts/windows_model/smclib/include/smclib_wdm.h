// smclib_wdm.h — the kernel types under the smclib headers. The host build takes readerlab's
// user-mode model (wdm_model.h); the kernel build of a driver (READERLAB_WDK_BUILD, e.g.
// drivers_under_test/reference_rdf/windows) takes the real <wdm.h> of the WDK or of mingw-w64's
// DDK, so the same driver source compiles against both.
#ifndef READERLAB_SMCLIB_WDM_H
#define READERLAB_SMCLIB_WDM_H

#ifdef READERLAB_WDK_BUILD
#include <wdm.h>
#else
#include "wdm_model.h"
#endif

#endif  // READERLAB_SMCLIB_WDM_H
