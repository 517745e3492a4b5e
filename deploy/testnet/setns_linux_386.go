package testnet

// sysSetns is setns(2)'s number; the frozen syscall package lacks it on
// 386.
const sysSetns = 346
