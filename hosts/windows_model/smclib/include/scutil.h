// scutil.h — readerlab models the classic smart card driver library (smclib). The WDK's
// scutil.h adds a PnP/power helper layer (ScUtil_*) that the specification does not cover
// and readerlab does not model; this header only brings in the smclib declarations so that
// drivers which include it compile.
#ifndef READERLAB_SCUTIL_H
#define READERLAB_SCUTIL_H

#include "smclib.h"

#endif  // READERLAB_SCUTIL_H
