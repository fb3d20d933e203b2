/*
 * Classic pcap writer (see pcap_file.h). Format: a 24-byte global header with the nanosecond
 * magic 0xa1b23c4d, then per frame a 16-byte record header (seconds, nanoseconds, captured
 * length, original length) and the bytes. Written in host byte order, as the format allows.
 */
#include "link/pcap_file.h"

#include <errno.h>
#include <string.h>

#define PCAP_MAGIC_NS 0xa1b23c4du
#define LINKTYPE_ETHERNET 1u

struct pcap_global_hdr {
    uint32_t magic;
    uint16_t version_major;
    uint16_t version_minor;
    int32_t thiszone;
    uint32_t sigfigs;
    uint32_t snaplen;
    uint32_t linktype;
};

struct pcap_record_hdr {
    uint32_t ts_sec;
    uint32_t ts_nsec;
    uint32_t incl_len;
    uint32_t orig_len;
};

static int note_error(struct pcap_file *pf)
{
    if (!pf->error)
        pf->error = errno ? errno : EIO;
    return -pf->error;
}

int pcap_file_open(struct pcap_file *pf, const char *path, uint32_t snaplen)
{
    *pf = (struct pcap_file){ .snaplen = snaplen ? snaplen : PCAP_DEFAULT_SNAPLEN };
    pf->f = fopen(path, "wb");
    if (!pf->f)
        return -errno;
    struct pcap_global_hdr h = {
        .magic = PCAP_MAGIC_NS,
        .version_major = 2,
        .version_minor = 4,
        .snaplen = pf->snaplen,
        .linktype = LINKTYPE_ETHERNET,
    };
    if (fwrite(&h, sizeof(h), 1, pf->f) != 1) {
        int err = note_error(pf);
        fclose(pf->f);
        pf->f = NULL;
        return err;
    }
    return 0;
}

int pcap_file_write(struct pcap_file *pf, uint64_t time_ns, const void *frame, size_t len)
{
    if (!pf->f)
        return -EBADF;
    if (pf->error)
        return -pf->error;
    uint32_t orig = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    uint32_t incl = orig < pf->snaplen ? orig : pf->snaplen;
    struct pcap_record_hdr r = {
        .ts_sec = (uint32_t)(time_ns / 1000000000u),
        .ts_nsec = (uint32_t)(time_ns % 1000000000u),
        .incl_len = incl,
        .orig_len = orig,
    };
    if (fwrite(&r, sizeof(r), 1, pf->f) != 1 || fwrite(frame, 1, incl, pf->f) != incl)
        return note_error(pf);
    return 0;
}

int pcap_file_close(struct pcap_file *pf)
{
    if (!pf->f)
        return pf->error ? -pf->error : 0;
    if (fclose(pf->f) != 0)
        note_error(pf);
    pf->f = NULL;
    return pf->error ? -pf->error : 0;
}
