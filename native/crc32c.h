// CRC-32C (Castagnoli), as used by iSCSI, ext4 metadata and DRBD's csums/verify algorithms.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace tandem {

// Continues a CRC: pass 0 to start, or a previous result to extend it over more data, so
// Crc32c(b, Crc32c(a, 0)) == Crc32c(a ++ b, 0). Uses SSE4.2 when the CPU has it.
uint32_t Crc32c(const uint8_t* data, size_t len, uint32_t seed);
// The portable table-driven path, exported so tests can compare it with the hardware path.
uint32_t Crc32cTable(const uint8_t* data, size_t len, uint32_t seed);
bool Crc32cHardware();

void InitCrc32c(Napi::Env env, Napi::Object exports);

}  // namespace tandem
