"""Parses one e-mail message (stdin) with Python's `email` package, as a mail program would,
and prints what the tests check as JSON: the MIME headers, the decoded subject and each part's
type, charset, decoded text and, for attachments, file name and `method` parameter."""
import email
import email.policy
import json
import sys

msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = []
for part in msg.walk():
    if part.is_multipart():
        continue
    parts.append({
        "content_type": part.get_content_type(),
        "charset": part.get_content_charset(),
        "text": part.get_content(),
        "filename": part.get_filename(),
        "disposition": part.get_content_disposition(),
        "method": part.get_param("method"),
    })
print(json.dumps({
    "mime_version": msg.get("MIME-Version"),
    "content_type": msg.get_content_type(),
    "content_language": msg.get("Content-Language"),
    "subject": str(msg.get("Subject", "")),
    "defects": [type(d).__name__ for d in msg.defects],
    "parts": parts,
}, ensure_ascii=False))
