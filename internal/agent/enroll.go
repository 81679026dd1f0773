package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/ferry-ota/ferry/client"
)

// tokenFile is device.json: the device token enrollment returned. It is
// written like state.json, through a temporary file, which os.CreateTemp
// makes readable by the owner only.
const tokenFile = "device.json"

// deviceTokenPrefix starts every device token the server issues; anything
// else given as Config.Token is taken for an enrollment key.
const deviceTokenPrefix = "fdt_"

type deviceToken struct {
	Token string `json:"token"`
}

// credential makes sure a.dev carries the device's own credential: the
// token kept from an earlier enrollment, or a new one got by enrolling
// with the enrollment key. It runs at the start of every cycle and does
// nothing once a device token is in use.
func (a *Agent) credential(ctx context.Context) error {
	if a.enrollKey == "" {
		return nil
	}
	var kept deviceToken
	err := a.st.readJSON(tokenFile, &kept)
	if err == nil && kept.Token != "" {
		a.useToken(kept.Token)
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	tok, err := a.newDevice(a.enrollKey).Enroll(ctx)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusConflict {
		// A public product: it needs no credential, and ignores the key.
		a.useToken(a.enrollKey)
		return nil
	}
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if err := a.st.writeJSON(tokenFile, deviceToken{Token: tok}); err != nil {
		return err
	}
	a.log.Info("device enrolled")
	a.useToken(tok)
	return nil
}

// useToken makes a.dev speak with tok from now on.
func (a *Agent) useToken(tok string) {
	a.dev = a.newDevice(tok)
	a.enrollKey = ""
}

// enrollKeyOf returns token when it is an enrollment key, "" when it is a
// device token or empty.
func enrollKeyOf(token string) string {
	if strings.HasPrefix(token, deviceTokenPrefix) {
		return ""
	}
	return token
}
