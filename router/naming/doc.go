// Package naming implements I2P host names: hosts.txt address books, the
// ".b32.i2p" form, and validation of "i2paddresshelper" values. It does no
// network I/O; the only file I/O is reading books and atomically rewriting
// the local one.
//
// Specifications: i2p/i2p.www i2p2www/pages/site/docs/naming.html ("Naming
// Rules", "Base32 Names") and i2p2www/spec/subscription.rst (the "#!"
// extension fields). The reserved-name and base32-spoofing rules follow the
// Java addressbook (apps/addressbook AddressBook.isValidKey).
//
// # hosts.txt format
//
//	# comment                     ignored (also "; comment")
//	name.i2p=<base64 destination> an entry
//	name.i2p=<dest>#!k=v#k2=v2    an entry with extension fields
//	name.i2p=<dest> # note        an entry; the comment is ignored
//	#!k=v#k2=v2                   a command without an entry (for example
//	                              action=remove); parsed, not applied yet
//
// Names are lower-cased (ASCII only; see NormalizeName) and must satisfy the
// naming rules. Extension fields are parsed and kept (keys are unique and
// case-sensitive) but not acted upon: signature checks and feed commands
// come with subscriptions.
//
// # Layered books and precedence
//
// Books stacks one writable local book (in the data directory) on top of
// read-only books (the files listed in the configuration, in their listed
// order). Lookups stop at the first layer that has the name, and the LOCAL
// book is searched FIRST. The local book holds the user's own decisions
// (saved address helpers, explicit additions), so it acts as a
// trust-on-first-use pin: a hosts.txt that later changes a name's key
// cannot silently redirect a name the user has already accepted. This is
// also Java I2P's order (privatehosts.txt, then userhosts.txt, then
// hosts.txt).
//
// Because the local book shadows the others, Add refuses (with a
// *ConflictError carrying both destinations) to store a name that any layer
// already maps to a different destination; Replace is the explicit,
// never-silent override. Within one file the first line for a name wins
// (first come, first served) and later different lines are reported.
//
// Malformed lines in a read-only book are skipped and reported, so one
// broken line does not hide thousands of good ones. Malformed lines in the
// local book are a hard error instead: that file is rewritten on every
// change, and rewriting it would silently drop what could not be parsed.
// The local book is machine-managed: comments in it are not preserved.
package naming
