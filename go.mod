module i2pbridge

go 1.26.0

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/elazarl/goproxy v1.9.3 // indirect
	github.com/ergochat/irc-go v0.5.0 // indirect
	github.com/flynn/noise v1.1.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
