package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/client"
)

// defaultServer is where the CLI and the agent look for a server when
// neither --server nor FERRY_SERVER says otherwise.
const defaultServer = "http://127.0.0.1:8080"

// remote holds the flags every operator command shares.
type remote struct {
	server    string
	token     string
	tokenFile string
	json      bool
}

// addRemoteFlags registers --server, --token, --token-file and --json on fs.
// The token's environment fallback is applied later, in operator, so that
// -h never prints a secret as a flag default.
func addRemoteFlags(fs *flag.FlagSet, e env) *remote {
	r := &remote{}
	server := e.getenv("FERRY_SERVER")
	if server == "" {
		server = defaultServer
	}
	fs.StringVar(&r.server, "server", server, "server base URL (env FERRY_SERVER)")
	fs.StringVar(&r.token, "token", "", "operator token (env FERRY_TOKEN)")
	fs.StringVar(&r.tokenFile, "token-file", "", "read the operator token from this `file`")
	fs.BoolVar(&r.json, "json", false, "print the server's JSON instead of a table")
	return r
}

// operator returns an API client, taking the token from --token, then
// --token-file, then FERRY_TOKEN.
func (r *remote) operator(e env) (*client.Operator, error) {
	token := r.token
	if token == "" && r.tokenFile != "" {
		b, err := os.ReadFile(r.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		token = e.getenv("FERRY_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no operator token: use --token, --token-file or FERRY_TOKEN " +
			"(the server writes one to DATA/operator.token on first start)")
	}
	hc := &http.Client{Transport: hintTransport{next: http.DefaultTransport, server: r.server}}
	return client.NewOperator(r.server, token, hc), nil
}

// hintTransport adds advice to a refused connection, the usual sign of a
// server that is not running or a wrong --server, so that every command
// explains it without handling it itself.
type hintTransport struct {
	next   http.RoundTripper
	server string
}

func (t hintTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("%w; is the server running? check --server / FERRY_SERVER (now %s)", err, t.server)
	}
	return resp, err
}

// newFlagSet returns a flag set for one subcommand whose -h prints usage
// (which should end with an example) and then the flags.
func newFlagSet(e env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, strings.TrimSpace(usage))
		fmt.Fprintln(e.stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags wherever they appear among the positional
// arguments, which flag.Parse alone does not: it stops at the first
// positional one. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks the count of positional arguments, naming what they are.
func wantArgs(cmd string, args []string, names ...string) error {
	if len(args) == len(names) {
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, args[0])
	}
	return fmt.Errorf("%s: want %s, got %d argument(s) (run 'ferry %s -h')",
		cmd, strings.Join(names, " "), len(args), cmd)
}

// opCmd is one operator subcommand being run. Its name begins every error
// it returns, so that a script's log says which command failed.
type opCmd struct {
	name string
	args []string // names of the positional arguments, for wantArgs
	fs   *flag.FlagSet
	r    *remote
	e    env
}

// newOpCmd returns a command whose flag set already has the remote flags;
// the caller adds its own, then calls parse or connect.
func newOpCmd(e env, name, usage string, args ...string) *opCmd {
	fs := newFlagSet(e, name, usage)
	return &opCmd{name: name, args: args, fs: fs, r: addRemoteFlags(fs, e), e: e}
}

// productFlag adds the --product flag of commands that act on one product.
func (c *opCmd) productFlag() *string {
	return c.fs.String("product", "", "product `name` (required)")
}

// parse parses the command line and returns the positional arguments once
// their count is right and every flag named in need has a value. A flag
// error is returned as the flag package made it, already printed.
func (c *opCmd) parse(need ...string) ([]string, error) {
	args, err := parseArgs(c.fs, c.e.args)
	if err != nil {
		return nil, err
	}
	if err := wantArgs(c.name, args, c.args...); err != nil {
		return nil, err
	}
	for _, name := range need {
		if err := required(c.name, name, c.fs.Lookup(name).Value.String()); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// operator returns the API client for the remote flags.
func (c *opCmd) operator() (*client.Operator, error) {
	op, err := c.r.operator(c.e)
	if err != nil {
		return nil, c.wrap(err)
	}
	return op, nil
}

// connect is parse then operator, for commands with nothing of their own
// to check in between.
func (c *opCmd) connect(need ...string) ([]string, *client.Operator, error) {
	args, err := c.parse(need...)
	if err != nil {
		return nil, nil, err
	}
	op, err := c.operator()
	return args, op, err
}

// wrap prefixes err with the command's name.
func (c *opCmd) wrap(err error) error {
	return fmt.Errorf("%s: %w", c.name, err)
}

// verb is one subcommand of a command group such as "release push".
type verb struct {
	name    string
	summary string
	run     func(ctx context.Context, e env) error
}

// runVerb dispatches e.args[0] to one of verbs.
func runVerb(ctx context.Context, e env, group string, verbs []verb) error {
	if len(e.args) == 0 || e.args[0] == "-h" || e.args[0] == "--help" || e.args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: ferry %s COMMAND [flags]\n\nCommands:\n", group)
		for _, v := range verbs {
			fmt.Fprintf(e.stderr, "  %-10s %s\n", v.name, v.summary)
		}
		fmt.Fprintf(e.stderr, "\nRun 'ferry %s COMMAND -h' for a command's flags.\n", group)
		if len(e.args) == 0 {
			return fmt.Errorf("%s: no command given", group)
		}
		return flag.ErrHelp
	}
	for _, v := range verbs {
		if v.name == e.args[0] {
			e.args = e.args[1:]
			return v.run(ctx, e)
		}
	}
	return fmt.Errorf("%s: unknown command %q (run 'ferry %s -h')", group, e.args[0], group)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// row writes one tab-separated table row. Cells pass through printable:
// much of what tables show was sent by devices, and must not reach the
// operator's terminal as control sequences.
func row(tw io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, printable(fmt.Sprint(c)))
	}
	fmt.Fprintln(tw)
}

// printable escapes control characters (and the bidirectional overrides
// that reorder what a terminal shows) as Go escapes such as \x1b, leaving
// all other text as it is.
func printable(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) ||
		r == utf8.RuneError
}

// when formats a server time for people: UTC to the second, "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// dash stands in for an empty cell so table columns stay aligned.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short cuts a digest to the 16 hex digits people compare by eye (the
// same prefix the server's ETag uses).
func short(digest string) string {
	if len(digest) > 16 {
		return digest[:16]
	}
	return dash(digest)
}

// oneLine makes free text fit a table cell: first line, at most n runes.
func oneLine(s string, n int) string {
	s, _, cut := strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	} else if cut {
		return s + " …"
	}
	return dash(s)
}

// attrs formats attributes as sorted name=value pairs.
func attrs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return dash(strings.Join(parts, " "))
}

// required checks flag values given as name, value pairs and names the
// first missing one.
func required(cmd string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return fmt.Errorf("%s: --%s is required", cmd, pairs[i])
		}
	}
	return nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
