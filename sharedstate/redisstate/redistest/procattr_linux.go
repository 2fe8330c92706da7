package redistest

import "syscall"

// procAttr kills the server if the test process dies without cleaning up
// (a test timeout's panic, say).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
