package pool

// BuildCounts counts builds of one length.
type BuildCounts struct {
	Attempted, OK, Failed uint64
	// Rejected and TimedOut are the parts of Failed where a hop declined,
	// and where no usable reply came.
	Rejected, TimedOut uint64
}

func (c *BuildCounts) add(o BuildCounts) {
	c.Attempted += o.Attempted
	c.OK += o.OK
	c.Failed += o.Failed
	c.Rejected += o.Rejected
	c.TimedOut += o.TimedOut
}

// Stats describes a pool.
type Stats struct {
	// Inbound and Outbound count the tunnels handed out now;
	// PendingInbound and PendingOutbound the builds in flight.
	Inbound, Outbound               int
	PendingInbound, PendingOutbound int
	// Builds counts builds by hop count (index 1 to MaxLength).
	Builds [MaxLength + 1]BuildCounts
	// SelectFailures counts build attempts that found too few peers.
	SelectFailures uint64
	// TestsPassed and TestsFailed count tunnel tests.
	TestsPassed, TestsFailed uint64
	// Dropped counts tunnels removed after two failed tests in a row,
	// Retired those removed at the end of their life.
	Dropped, Retired uint64
	// LastError is the most recent build or selection failure.
	LastError error
}

// TotalBuilds sums Builds over every length.
func (s Stats) TotalBuilds() BuildCounts {
	var t BuildCounts
	for _, c := range s.Builds {
		t.add(c)
	}
	return t
}
