package ddi

// The JSON shapes of the DDI API. Field names are hawkBit's, so they are
// camelCase, not Ferry's snake_case. Bodies are kept small: Zephyr's client
// reads an answer into about a kilobyte.

type link struct {
	Href string `json:"href"`
}

type pollResponse struct {
	Config pollConfig      `json:"config"`
	Links  map[string]link `json:"_links,omitempty"`
}

type pollConfig struct {
	Polling polling `json:"polling"`
}

type polling struct {
	Sleep string `json:"sleep"` // HH:MM:SS
}

type deploymentResponse struct {
	ID         string     `json:"id"`
	Deployment deployment `json:"deployment"`
}

type deployment struct {
	Download string  `json:"download"`
	Update   string  `json:"update"`
	Chunks   []chunk `json:"chunks"`
}

type chunk struct {
	Part      string     `json:"part"`
	Version   string     `json:"version"`
	Name      string     `json:"name"`
	Artifacts []artifact `json:"artifacts"`
}

type artifact struct {
	Filename string          `json:"filename"`
	Hashes   hashes          `json:"hashes"`
	Size     int64           `json:"size"`
	Links    map[string]link `json:"_links"`
}

type hashes struct {
	SHA1   string `json:"sha1"`
	MD5    string `json:"md5"`
	SHA256 string `json:"sha256"`
}

type cancelResponse struct {
	ID           string       `json:"id"`
	CancelAction cancelAction `json:"cancelAction"`
}

type cancelAction struct {
	StopID string `json:"stopId"`
}

type confirmationResponse struct {
	AutoConfirm autoConfirm `json:"autoConfirm"`
}

type autoConfirm struct {
	Active bool `json:"active"`
}

// feedback is the body of a deployment or cancel feedback. Clients also
// send legacy "id" and "time" fields (SWUpdate does, with types that vary)
// and a "timestamp"; like any unknown field they are ignored.
type feedback struct {
	Status struct {
		Execution string `json:"execution"`
		Result    struct {
			Finished string    `json:"finished"`
			Progress *progress `json:"progress"`
		} `json:"result"`
		Code    *int64   `json:"code"`
		Details []string `json:"details"`
	} `json:"status"`
}

type progress struct {
	Cnt int64 `json:"cnt"`
	Of  int64 `json:"of"`
}

// configData is the body of a configData PUT. SWUpdate wraps it in a
// feedback's fields, which are ignored.
type configData struct {
	Mode string            `json:"mode"`
	Data map[string]string `json:"data"`
}

// installedBase is the body of an installedBase PUT: the distribution the
// device says it runs.
type installedBase struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}
