// The WDK headers of the kernel build, in the order they need: <wdm.h> (through the smclib
// headers' smclib_wdm.h when READERLAB_WDK_BUILD is set), then the USB ones.
#pragma once

#include <wdm.h>

extern "C" {
#include <usb.h>
#include <usbdlib.h>
#include <usbioctl.h>
}
