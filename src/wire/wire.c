/*
 * Names for parse results (see wire.h), used by drop counters and debug logs.
 */
#include "wire/wire.h"

const char *wire_strerror(int err)
{
    switch (err) {
    case WIRE_OK:       return "ok";
    case WIRE_ETRUNC:   return "truncated";
    case WIRE_EVERSION: return "bad-version";
    case WIRE_EHDRLEN:  return "bad-header-length";
    case WIRE_ELEN:     return "bad-length";
    case WIRE_ECSUM:    return "bad-checksum";
    case WIRE_EOPT:     return "bad-option";
    case WIRE_EUNSUPP:  return "unsupported";
    default:            return "unknown-error";
    }
}
