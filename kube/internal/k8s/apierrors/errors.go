// Package apierrors is the API server's error as package kube checks it
// (k8s.io/apimachinery/pkg/api/errors): a Status with a reason and a code.
package apierrors

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/pipe-run/pipe/kube/internal/k8s/metav1"
)

// StatusError is an error answer of the API server.
type StatusError struct {
	ErrStatus metav1.Status
}

// Error is the Status's message, else its reason, else its code.
func (e *StatusError) Error() string {
	switch {
	case e.ErrStatus.Message != "":
		return e.ErrStatus.Message
	case e.ErrStatus.Reason != "":
		return string(e.ErrStatus.Reason)
	}
	return fmt.Sprintf("the server answered %d %s", e.ErrStatus.Code, http.StatusText(int(e.ErrStatus.Code)))
}

// Status is the Status the server sent (or the client made of its answer).
func (e *StatusError) Status() metav1.Status { return e.ErrStatus }

// NewForbidden is the error of a request the user may not make.
func NewForbidden(resource, name string, err error) *StatusError {
	msg := fmt.Sprintf("forbidden: %v", err)
	if name != "" {
		msg = fmt.Sprintf("%s %q is forbidden: %v", resource, name, err)
	} else if resource != "" {
		msg = fmt.Sprintf("%s is forbidden: %v", resource, err)
	}
	return &StatusError{metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden,
		Reason: metav1.StatusReasonForbidden, Message: msg,
		Details: &metav1.StatusDetails{Kind: resource, Name: name}}}
}

// NewNotFound is the error of a missing object.
func NewNotFound(resource, name string) *StatusError {
	return &StatusError{metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
		Reason: metav1.StatusReasonNotFound, Message: fmt.Sprintf("%s %q not found", resource, name),
		Details: &metav1.StatusDetails{Kind: resource, Name: name}}}
}

// reasonByCode is the reason of a Status that gives only a code, as
// upstream infers it.
var reasonByCode = map[int32]metav1.StatusReason{
	http.StatusUnauthorized:          metav1.StatusReasonUnauthorized,
	http.StatusForbidden:             metav1.StatusReasonForbidden,
	http.StatusNotFound:              metav1.StatusReasonNotFound,
	http.StatusConflict:              metav1.StatusReasonConflict,
	http.StatusGone:                  metav1.StatusReasonGone,
	http.StatusUnprocessableEntity:   metav1.StatusReasonInvalid,
	http.StatusGatewayTimeout:        metav1.StatusReasonTimeout,
	http.StatusTooManyRequests:       metav1.StatusReasonTooManyRequests,
	http.StatusBadRequest:            metav1.StatusReasonBadRequest,
	http.StatusMethodNotAllowed:      metav1.StatusReasonMethodNotAllowed,
	http.StatusNotAcceptable:         metav1.StatusReasonNotAcceptable,
	http.StatusRequestEntityTooLarge: metav1.StatusReasonRequestEntityTooLarge,
	http.StatusUnsupportedMediaType:  metav1.StatusReasonUnsupportedMediaType,
	http.StatusInternalServerError:   metav1.StatusReasonInternalError,
	http.StatusServiceUnavailable:    metav1.StatusReasonServiceUnavailable,
}

// ReasonForError is err's Status reason (inferred from its code when the
// server gave none), or "" when err is no StatusError.
func ReasonForError(err error) metav1.StatusReason {
	var se *StatusError
	if !errors.As(err, &se) {
		return metav1.StatusReasonUnknown
	}
	if se.ErrStatus.Reason != metav1.StatusReasonUnknown {
		return se.ErrStatus.Reason
	}
	return reasonByCode[se.ErrStatus.Code]
}

// IsNotFound: the object does not exist.
func IsNotFound(err error) bool { return ReasonForError(err) == metav1.StatusReasonNotFound }

// IsAlreadyExists: an object of that name exists.
func IsAlreadyExists(err error) bool { return ReasonForError(err) == metav1.StatusReasonAlreadyExists }

// IsConflict: the object changed meanwhile.
func IsConflict(err error) bool { return ReasonForError(err) == metav1.StatusReasonConflict }

// IsForbidden: the user may not make the request.
func IsForbidden(err error) bool { return ReasonForError(err) == metav1.StatusReasonForbidden }

// IsUnauthorized: the server does not know who the user is.
func IsUnauthorized(err error) bool { return ReasonForError(err) == metav1.StatusReasonUnauthorized }

// IsInvalid: the object was refused as invalid.
func IsInvalid(err error) bool { return ReasonForError(err) == metav1.StatusReasonInvalid }

// IsGone: the resource version is too old (a watch must list again).
func IsGone(err error) bool { return ReasonForError(err) == metav1.StatusReasonGone }

// IsResourceExpired: as IsGone, the reason a watch reports.
func IsResourceExpired(err error) bool { return ReasonForError(err) == metav1.StatusReasonExpired }

// IsTooManyRequests: the server asks the client to slow down.
func IsTooManyRequests(err error) bool {
	return ReasonForError(err) == metav1.StatusReasonTooManyRequests
}
