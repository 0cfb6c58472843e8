#ifndef STREAMD_CSRT_SHIM_H
#define STREAMD_CSRT_SHIM_H
#include <srt/srt.h>
#include <srt/access_control.h>
#endif
