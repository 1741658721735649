//go:build !linux

package natlab

import (
	"errors"
	"os"
	"syscall"
)

var errNotLinux = errors.New("natlab: network namespaces need Linux")

func doIn(string, func() error) error { return errNotLinux }

func killPid(int) error { return errNotLinux }

func processAlive(int) bool { return true }

func groupAttr() *syscall.SysProcAttr { return nil }

func signalGroup(p *os.Process, sig syscall.Signal) error { return p.Signal(sig) }
