/*
 * Writing capture files in the classic pcap format (nanosecond timestamps, LINKTYPE_ETHERNET),
 * readable by tcpdump, tshark and Wireshark. Used by the pcap link middleware and by tests that
 * hand frames to tshark.
 */
#ifndef UST_LINK_PCAP_FILE_H
#define UST_LINK_PCAP_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCAP_DEFAULT_SNAPLEN 65535u

struct pcap_file {
    FILE *f;
    uint32_t snaplen;
    int error;          /* first write error (a positive errno), 0 if none */
};

/* Creates (truncates) the file and writes its header. Returns 0 or a negative errno. */
int pcap_file_open(struct pcap_file *pf, const char *path, uint32_t snaplen);
/* Appends one frame captured at time_ns (any epoch; tools show it as seconds since 1970).
 * Frames longer than the snaplen are cut, keeping their original length in the record. */
int pcap_file_write(struct pcap_file *pf, uint64_t time_ns, const void *frame, size_t len);
/* Flushes and closes. Returns 0, or the first negative errno seen while writing. */
int pcap_file_close(struct pcap_file *pf);

#endif
