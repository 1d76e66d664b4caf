package hookserver

import "net/http"

// outcome classifies a hook call, for the calls metric and the log.
type outcome uint8

const (
	outcomePatient outcome = iota
	outcomeNotPatient
	outcomeNoEndUser
	outcomeNoTokenToPatch
	outcomeDenied
	outcomeNotReady
	outcomeDeniedNotReady
	outcomeUnauthorized
	outcomeMethodNotAllowed
	outcomeUnsupportedMediaType
	outcomeBodyTooLarge
	outcomeMalformedEvent
	outcomeWrongEventType
	outcomeRouteCheck
	numOutcomes
)

var outcomeInfo = [numOutcomes]struct {
	name   string
	status int
}{
	outcomePatient:              {"patient", http.StatusOK},
	outcomeNotPatient:           {"not_patient", http.StatusNoContent},
	outcomeNoEndUser:            {"no_end_user", http.StatusNoContent},
	outcomeNoTokenToPatch:       {"no_token_to_patch", http.StatusNoContent},
	outcomeDenied:               {"denied", http.StatusOK},
	outcomeNotReady:             {"not_ready", http.StatusServiceUnavailable},
	outcomeDeniedNotReady:       {"denied_not_ready", http.StatusOK},
	outcomeUnauthorized:         {"unauthorized", http.StatusUnauthorized},
	outcomeMethodNotAllowed:     {"method_not_allowed", http.StatusMethodNotAllowed},
	outcomeUnsupportedMediaType: {"unsupported_media_type", http.StatusUnsupportedMediaType},
	outcomeBodyTooLarge:         {"body_too_large", http.StatusRequestEntityTooLarge},
	outcomeMalformedEvent:       {"malformed_event", http.StatusBadRequest},
	outcomeWrongEventType:       {"wrong_event_type", http.StatusBadRequest},
	outcomeRouteCheck:           {"route_check", http.StatusOK},
}

func (o outcome) String() string { return outcomeInfo[o].name }

// status is the HTTP status the outcome answers with.
func (o outcome) status() int { return outcomeInfo[o].status }
