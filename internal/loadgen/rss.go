package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcRSS returns a sampler of the resident memory (VmRSS) of process pid
// from /proc (Linux); pid 0 is this process. It returns 0 when the file
// cannot be read (another OS, the process ended).
func ProcRSS(pid int) func() int64 {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	return func() int64 {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0
		}
		return parseVmRSS(b)
	}
}

// parseVmRSS reads the "VmRSS:  123456 kB" line of a /proc status file.
func parseVmRSS(status []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
