"""pycurl side of curlsock's end-to-end benchmark (go run ./bench).

Keeps one pycurl handle and, for each line "run N" on stdin, performs N
sequential fresh-connection GETs (FORBID_REUSE=1) and prints one line:

    PYCURL_RESULT mode=plain n=2000 seconds=0.25 tps=8000.0 cpu_seconds=0.2 thread_cpu_seconds=0.2 bytes=2048000 version=PycURL/...

It exits at end of input. With -n N it does one run of N and exits instead.

mode=plain sets no socket callbacks (variant f); mode=callbacks sets Python
OPENSOCKETFUNCTION, SOCKOPTFUNCTION and CLOSESOCKETFUNCTION that do what
libcurl does without them (variant g). Timing excludes start-up and warm-up.
"""

import argparse
import os
import resource
import socket
import sys
import time

import pycurl


def opensocket(purpose, address):
    # address is (family, socktype, protocol, sockaddr); pycurl dup()s the
    # returned socket's fd, and the socket object closes its own when dropped.
    return socket.socket(address[0], address[1], address[2])


def sockopt(fd, purpose):
    return pycurl.SOCKOPT_OK


def closesocket(fd):
    os.close(fd)
    return 0


def cpu(who=resource.RUSAGE_SELF):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def thread_cpu():
    return cpu(resource.RUSAGE_THREAD)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("-n", type=int, default=0, help="one run of N transfers, then exit")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--mode", choices=("plain", "callbacks"), required=True)
    p.add_argument("--size", type=int, default=-1, help="expected body size")
    a = p.parse_args()

    got = [0]

    def write(b):
        got[0] += len(b)

    c = pycurl.Curl()
    c.setopt(pycurl.URL, a.url)
    c.setopt(pycurl.FORBID_REUSE, 1)
    c.setopt(pycurl.NOSIGNAL, 1)
    c.setopt(pycurl.PROXY, "")
    c.setopt(pycurl.WRITEFUNCTION, write)
    if a.mode == "callbacks":
        c.setopt(pycurl.OPENSOCKETFUNCTION, opensocket)
        c.setopt(pycurl.SOCKOPTFUNCTION, sockopt)
        c.setopt(pycurl.CLOSESOCKETFUNCTION, closesocket)

    perform = c.perform
    for _ in range(a.warmup):
        perform()
    if c.getinfo(pycurl.RESPONSE_CODE) != 200:
        sys.exit("unexpected status %d" % c.getinfo(pycurl.RESPONSE_CODE))
    version = "+".join(pycurl.version.split()[:3])

    def run(n):
        got[0] = 0
        c0, h0, t0 = cpu(), thread_cpu(), time.perf_counter()
        for _ in range(n):
            perform()
        t1, h1, c1 = time.perf_counter(), thread_cpu(), cpu()
        if a.size >= 0 and got[0] != a.size * n:
            sys.exit("got %d body bytes, want %d" % (got[0], a.size * n))
        secs = t1 - t0
        print("PYCURL_RESULT mode=%s n=%d seconds=%.9f tps=%.3f cpu_seconds=%.9f thread_cpu_seconds=%.9f bytes=%d version=%s"
              % (a.mode, n, secs, n / secs, c1 - c0, h1 - h0, got[0], version), flush=True)

    if a.n > 0:
        run(a.n)
    else:
        print("PYCURL_READY", flush=True)
        for line in sys.stdin:
            f = line.split()
            if len(f) == 2 and f[0] == "run":
                run(int(f[1]))
            elif f:
                sys.exit("unknown command %r" % line)
    c.close()


if __name__ == "__main__":
    main()
