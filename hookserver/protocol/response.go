package protocol

// Response is the body a hook returns with status 200. Commands patch tokens;
// Error makes Okta fail the whole flow and issue no token at all.
type Response struct {
	Commands []Command `json:"commands,omitempty"`
	Error    *Error    `json:"error,omitempty"`
}

// Command patches one token: Type is IdentityPatch or AccessPatch.
type Command struct {
	Type  string      `json:"type"`
	Value []Operation `json:"value"`
}

// Operations Okta accepts.
const (
	OpAdd     = "add"
	OpReplace = "replace"
	OpRemove  = "remove"
)

// Operation is one JSON-Patch-like change, on "/claims/<name>[/...]" or
// "/token/lifetime/expiration". Value may be any JSON value (string, number,
// object, array); it is omitted for remove.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Error blocks the token. Okta shows ErrorSummary to the client as
// error_description, with error=server_error.
type Error struct {
	ErrorSummary string `json:"errorSummary,omitempty"`
}

// ClaimPath is the operation path of a top-level claim.
func ClaimPath(name string) string { return "/claims/" + name }

// AddClaim returns the command that adds claim name with value to token t.
func AddClaim(t Token, name string, value any) Command {
	return Command{
		Type:  t.PatchType(),
		Value: []Operation{{Op: OpAdd, Path: ClaimPath(name), Value: value}},
	}
}
