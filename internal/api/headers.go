package api

import "net/http"

// securityHeaders sets on every answer the headers that keep a browser from
// reading an answer as something else (nosniff) and from sending the
// address of a page, with its query, to another site (Referrer-Policy).
// Pages add their Content-Security-Policy themselves.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
