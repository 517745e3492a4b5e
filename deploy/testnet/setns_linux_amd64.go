package testnet

// sysSetns is setns(2)'s number. The frozen syscall package lacks it on
// amd64; golang.org/x/sys would need a newer go directive in go.mod.
const sysSetns = 308
