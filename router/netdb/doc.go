// Package netdb is the router's network database: the RouterInfos (and
// LeaseSet2s) it knows, kept on disk in i2pd's layout, and the Kademlia-like
// protocol over I2NP that finds, spreads and publishes them.
//
// Specification: i2p/i2p.www pages/site/docs/how/network-database.html
// (§"Kademlia Closeness Metric", §"Floodfill", §"Flooding", §"RouterInfo
// Storage to Floodfills", §"RouterInfo and LeaseSet Lookup",
// §"Exploration"), i2np.rst §"DatabaseStore", §"DatabaseLookup",
// §"DatabaseSearchReply", §"Reply Encryption", updates.rst §"SU3 File
// Specification". Where they leave room, i2pd 2.45.0 (libi2pd/NetDb.cpp,
// NetDbRequests.cpp, Reseed.cpp) settles it, and the code says so.
//
// # Storage
//
//	<Dir>/r<c>/routerInfo-<base64 hash>.dat      c = first base64 character
//
// exactly i2pd's netDb, so either router can start from the other's
// directory. Bootstrap inputs: LoadSeedDir (loose files, any tree),
// ReadZip/WriteZip (i2pd reseed.zipfile), ReadSU3 (signed reseed files,
// verified against reseed certificates, LoadReseedSigners), ReadReseedFile
// (any of them) and FetchReseed (i2pseeds.su3 from a reseed server over
// HTTPS). Seeds go in through Config.Seeds or AddSeeds.
//
// # Distance
//
// RoutingKey(h, day) = SHA-256(h ‖ "yyyyMMdd" UTC); Distance = routing key
// XOR plain router hash. Floodfills compare plain hashes against the
// searched key's routing key.
//
// # Message flow
//
//	lookup     us ──DLM(key, RI)──▶ closest floodfill ──DSM(RI)──▶ us                  found
//	                                                 └─DSRM(closer floodfills)─▶ us   fetch them, ask the next
//	explore    us ──DLM(random, exploratory, exclude known)──▶ floodfill ──DSRM(3 routers)──▶ us ──fetch──▶
//	publish    us ──DSM(our RI, token)──▶ closest floodfill ──DeliveryStatus(token)──▶ us
//	floodfill  peer ──DSM(token)──▶ us ──DeliveryStatus──▶ gateway; ──DSM(token 0)──▶ 3 closest floodfills
//	           peer ──DLM──▶ us ──DSM or DSRM──▶ from (or TunnelGateway to from, tag-encrypted)
//
// # Ownership
//
// One goroutine, Run, owns the state: searches, publishing, the floodfill
// role, expiry, the LeaseSets. Handle, AddRouterInfo, PeerFailed,
// SetRouterInfo and LookupRouterInfo enqueue work for it. The RouterInfo
// table is written only by that goroutine; a read lock lets the transport
// resolve peers (RouterInfo) without a round trip. Sends run in their own
// goroutines, so a slow dial never stalls the database.
package netdb
