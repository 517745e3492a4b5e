package garlic

import (
	"fmt"
	"io"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
)

// LeaseSetClove returns the clove that hands the remote our LeaseSet2 so
// that it can reply (ecies.rst §"Typical Usage Patterns": the NS "bundles
// a reply leaseset"): LOCAL delivery of a DatabaseStore with key = our
// destination hash, store type 3, reply token 0 and the raw LeaseSet2,
// under a random message ID and expiring i2np.DefaultExpiration after now.
// This is the clove i2pd's CreateLeaseSetClove builds; i2pd's destination
// stores the LeaseSet when it handles the clove, which is what lets it
// answer us.
func LeaseSetClove(r io.Reader, now time.Time, key data.Hash, ls []byte) (i2np.Clove, error) {
	id, err := randomUint32(r)
	if err != nil {
		return i2np.Clove{}, fmt.Errorf("garlic: LeaseSet clove message ID: %w", err)
	}
	m, err := i2np.NewMessage(id, i2np.ExpirationMillis(now.Add(i2np.DefaultExpiration)),
		i2np.DatabaseStore{Key: key, StoreType: i2np.StoreLeaseSet2, Data: ls})
	if err != nil {
		return i2np.Clove{}, fmt.Errorf("garlic: LeaseSet clove: %w", err)
	}
	return i2np.Clove{Delivery: i2np.CloveDelivery{Type: i2np.DeliveryLocal}, Message: m}, nil
}

// MessageClove returns a clove that delivers m to the destination that
// decrypts the garlic: LOCAL when dest is nil, otherwise DESTINATION with
// dest's hash, which is how i2pd addresses the data cloves of its outbound
// sessions (CreateGarlicClove). i2pd accepts both.
func MessageClove(m i2np.Message, dest *data.Hash) i2np.Clove {
	c := i2np.Clove{Delivery: i2np.CloveDelivery{Type: i2np.DeliveryLocal}, Message: m}
	if dest != nil {
		c.Delivery = i2np.CloveDelivery{Type: i2np.DeliveryDestination, Hash: *dest}
	}
	return c
}
