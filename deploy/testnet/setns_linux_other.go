//go:build linux && !amd64 && !386

package testnet

import "syscall"

const sysSetns = syscall.SYS_SETNS
