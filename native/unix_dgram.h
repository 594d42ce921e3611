// A unix datagram socket for syslog (/dev/log is one): Node has none, and an addon built per
// Node ABI (unix-dgram is NAN-based) breaks whenever the Node version changes. N-API is stable.
#pragma once
#include <napi.h>

namespace tandem {
void InitUnixDgram(Napi::Env env, Napi::Object exports);
}
