package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	"github.com/pipe-run/pipe/kube/internal/k8s/metav1"
)

// responseError is the *apierrors.StatusError of a non-2xx answer: the
// Status the server sent, else one made of the code and the body, with
// client-go's messages.
func responseError(verb, path string, resp *http.Response, body []byte) error {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	code := int32(resp.StatusCode)
	msg := genericMessage(resp.StatusCode)
	if text := bodyText(body); text != "" {
		msg += ": " + text
	}
	msg += fmt.Sprintf(" (%s %s)", strings.ToLower(verb), path)
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reasonForCode(resp.StatusCode), Message: msg,
	}}
}

// genericMessage is client-go's message for a code without a Status.
func genericMessage(code int) string {
	switch code {
	case http.StatusConflict:
		return "the server reported a conflict"
	case http.StatusNotFound:
		return "the server could not find the requested resource"
	case http.StatusBadRequest:
		return "the server rejected our request for an unknown reason"
	case http.StatusUnauthorized:
		return "the server has asked for the client to provide credentials"
	case http.StatusForbidden:
		return "the server does not allow access to the requested resource"
	case http.StatusMethodNotAllowed:
		return "the server does not allow this method on the requested resource"
	case http.StatusUnprocessableEntity:
		return "the server rejected our request due to an error in our request"
	case http.StatusTooManyRequests:
		return "the server has received too many requests and has asked us to try again later"
	case http.StatusServiceUnavailable:
		return "the server is currently unable to handle the request"
	case http.StatusGatewayTimeout:
		return "the server was unable to return a response in the time allotted, but may still be processing the request"
	}
	return fmt.Sprintf("an error on the server (%d %s) has prevented the request from succeeding", code, http.StatusText(code))
}

// reasonForCode is the Status reason of a code, as upstream infers it.
func reasonForCode(code int) metav1.StatusReason {
	err := &apierrors.StatusError{ErrStatus: metav1.Status{Code: int32(code)}}
	return apierrors.ReasonForError(err)
}

// bodyText is the start of a body that is text, on one line.
func bodyText(body []byte) string {
	if !utf8.Valid(body) {
		return ""
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// warnings hands each Warning header's text to the Warning handler.
func (c *Client) warnings(h http.Header) {
	if c.cfg.Warning == nil {
		return
	}
	for _, v := range h.Values("Warning") {
		for _, text := range parseWarnings(v) {
			c.cfg.Warning(text)
		}
	}
}

// parseWarnings reads the texts of a Warning header (RFC 7234 5.5:
// warn-code SP warn-agent SP quoted-text [SP warn-date], comma separated),
// keeping those of code 299, as client-go does. A malformed value ends
// the parse.
func parseWarnings(v string) []string {
	var out []string
	for {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			return out
		}
		code, rest, ok := strings.Cut(v, " ")
		if !ok {
			return out
		}
		_, rest, ok = strings.Cut(strings.TrimLeft(rest, " "), " ")
		if !ok {
			return out
		}
		text, rest, ok := quoted(strings.TrimLeft(rest, " "))
		if !ok {
			return out
		}
		if code == "299" && text != "" {
			out = append(out, text)
		}
		// Skip an optional quoted warn-date.
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, `"`) {
			if _, rest, ok = quoted(rest); !ok {
				return out
			}
		}
		v = rest
	}
}

// quoted reads a quoted-string with backslash escapes from the start of s.
func quoted(s string) (text, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", s, false
}
