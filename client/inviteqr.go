package client

import (
	"bytes"
	"fmt"
	"image/png"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"brieftraeger/identity"
)

// InviteQR returns a PNG image of a QR code that holds the invitation
// code's words, separated by spaces, at error correction level M: what a
// phone's camera shows as text, to read out or to type into
// 'brief invite accept'.
func InviteQR(code identity.InviteCode) ([]byte, error) {
	hints := map[gozxing.EncodeHintType]any{
		gozxing.EncodeHintType_ERROR_CORRECTION: "M",
		gozxing.EncodeHintType_MARGIN:           4,
	}
	m, err := qrcode.NewQRCodeWriter().Encode(code.String(), gozxing.BarcodeFormat_QR_CODE, 256, 256, hints)
	if err != nil {
		return nil, fmt.Errorf("failed to make the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		return nil, fmt.Errorf("failed to write the QR image: %w", err)
	}
	return buf.Bytes(), nil
}
