# Wire formats and checksums (src/wire). The sample packets in test_wire_samples.c are shared
# with the tshark check (tests/interop) and seed the fuzz corpus (tests/fuzz).
ust_test(test_checksum unit test_checksum.c)
foreach(proto eth arp ipv4 icmp udp tcp)
  ust_test(test_wire_${proto} unit test_wire_${proto}.c test_wire_samples.c)
endforeach()
