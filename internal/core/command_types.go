package core

import "time"

// CommandState is where a device command stands:
//
//	queued → delivered → acknowledged | failed
//	      \           \→ expired
//	       `→ canceled (by an operator, while still open)
//
// Queued and delivered are open; the others are terminal and never change.
type CommandState string

// Command states.
const (
	CommandQueued       CommandState = "queued"       // waiting for the device's next contact
	CommandDelivered    CommandState = "delivered"    // handed to the device, no answer yet
	CommandAcknowledged CommandState = "acknowledged" // the device answered ok
	CommandFailed       CommandState = "failed"       // the device answered error
	CommandExpired      CommandState = "expired"      // no answer before ExpiresAt
	CommandCanceled     CommandState = "canceled"     // an operator withdrew it before an answer
)

// Open reports whether a command in state s still waits for the device.
func (s CommandState) Open() bool { return s == CommandQueued || s == CommandDelivered }

// Valid reports whether s is a known command state.
func (s CommandState) Valid() bool {
	switch s {
	case CommandQueued, CommandDelivered, CommandAcknowledged, CommandFailed, CommandExpired, CommandCanceled:
		return true
	}
	return false
}

// Command results a device may answer with.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// Command is a small instruction for one device, delivered at its next
// contact by whichever protocol it uses, and answered by the device.
type Command struct {
	ID        int64
	ProductID int64 // the device's product, read through the device
	DeviceID  int64
	Device    string // the device's name, read through the device
	Name      string
	Payload   string
	// Urgent asks Ferry to reach a device that holds no connection by an
	// outbound nudge, where one is configured.
	Urgent    bool
	State     CommandState
	CreatedBy string // the operator who queued it
	CreatedAt time.Time
	ExpiresAt time.Time
	// DeliveredAt is the first delivery; zero while queued.
	DeliveredAt time.Time
	// FinishedAt is when the command reached a terminal state; zero while
	// it is open. Stores select open commands by it.
	FinishedAt time.Time
	// Via is the protocol of the first delivery: native, plain, longpoll, mqtt.
	Via string
	// Result is ResultOK or ResultError once the device answered, and
	// ResultPayload what it said, both empty until then.
	Result        string
	ResultPayload string
	// History is filled by Service.Command, oldest first; listings leave
	// it nil.
	History []CommandEvent
}

// CommandEventKind says what happened to a command.
type CommandEventKind string

// Command event kinds.
const (
	CommandEventQueued    CommandEventKind = "queued"
	CommandEventDelivered CommandEventKind = "delivered"
	CommandEventAcked     CommandEventKind = "acknowledged"
	CommandEventFailed    CommandEventKind = "failed"
	CommandEventExpired   CommandEventKind = "expired"
	CommandEventCanceled  CommandEventKind = "canceled"
	// CommandEventIgnored records an answer that changed nothing: one that
	// contradicts an earlier answer, or came after the command expired or
	// was canceled.
	CommandEventIgnored CommandEventKind = "ack-ignored"
)

// CommandEvent is one timestamped line of a command's history.
type CommandEvent struct {
	ID        int64
	CommandID int64
	At        time.Time
	Kind      CommandEventKind
	Via       string // protocol of a delivery or an answer, when known
	Detail    string
}

// CommandRequest is what an operator asks to send to a device.
type CommandRequest struct {
	Name    string
	Payload string
	// Expires is how long the command waits for an answer; zero means
	// DefaultCommandExpiry.
	Expires time.Duration
	Urgent  bool
}
