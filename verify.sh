#!/bin/sh
# verify.sh - check one callrec recording with stock tools (SPEC E6).
#
#   ./verify.sh <recording-base> [certificate.pem]
#
# <recording-base> is the recording's path without suffixes, e.g.
#   archive/2026/11/22/20261122-141503_0891234567_0301234567_ab12cd
# (a path ending in _info.txt, _hash.txt or _hash.txt.SHA256withRSA.sig works too).
# The certificate defaults to certificate.pem beside the recording, else the one
# beside this script. Compare its SHA-256 fingerprint (printed below) with the
# one the installation published (`callrec cert`, its start-up log).
#
# What is checked, in the recording's folder:
#   1. <base>_info.txt, <base>_hash.txt and <base>_hash.txt.SHA256withRSA.sig exist,
#      and the hash file covers the info file;
#   2. every checksum in <base>_hash.txt: `sha256sum -c`, or `shasum -a 256 -c`;
#   3. the RSA/SHA-256 signature of <base>_hash.txt under the certificate:
#      openssl x509 -in certificate.pem -pubkey -noout > pub.pem
#      openssl base64 -d -A -in sig.b64 -out sig.bin      (sig file, line breaks removed)
#      openssl dgst -sha256 -verify pub.pem -signature sig.bin <base>_hash.txt
#      On failure, `openssl pkeyutl -verifyrecover` tells which file changed: a
#      genuine signature of other bytes means the hash file was altered.
#
# Needs: POSIX sh, sha256sum or shasum, openssl. CALLREC_SUM_TOOL=sha256sum|shasum
# picks the checksum tool when both exist.
# Exit status: 0 everything intact; 1 something failed (named above the result);
# 2 usage error, missing tool or certificate.

set -u

prog=${0##*/}
usage() {
  echo "usage: $prog <recording-base> [certificate.pem]" >&2
  exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
[ -n "$1" ] || usage

base=$1
case $base in
  *_hash.txt.SHA256withRSA.sig) base=${base%_hash.txt.SHA256withRSA.sig} ;;
  *_hash.txt) base=${base%_hash.txt} ;;
  *_info.txt) base=${base%_info.txt} ;;
esac
case $base in
  */*) dir=${base%/*}; name=${base##*/}; [ -n "$dir" ] || dir=/ ;;
  *) dir=.; name=$base ;;
esac
info=${name}_info.txt
hash=${name}_hash.txt
sig=${hash}.SHA256withRSA.sig

case $0 in
  */*) scriptdir=${0%/*} ;;
  *) scriptdir=. ;;
esac
if [ $# -eq 2 ]; then
  cert=$2
elif [ -f "$dir/certificate.pem" ]; then
  if [ "$dir" = . ]; then cert=certificate.pem; else cert=$dir/certificate.pem; fi
elif [ -f "$scriptdir/certificate.pem" ]; then
  cert=$scriptdir/certificate.pem
else
  echo "$prog: no certificate.pem beside the recording or this script; pass it as the second argument" >&2
  exit 2
fi
if [ ! -f "$cert" ]; then
  echo "$prog: certificate not found: $cert" >&2
  exit 2
fi
case $cert in
  /*) ;;
  *) cert=$(pwd)/$cert ;;
esac

command -v openssl >/dev/null 2>&1 || { echo "$prog: openssl is needed" >&2; exit 2; }
sumtool=${CALLREC_SUM_TOOL:-}
if [ -z "$sumtool" ]; then
  if command -v sha256sum >/dev/null 2>&1; then sumtool=sha256sum
  elif command -v shasum >/dev/null 2>&1; then sumtool=shasum
  else echo "$prog: sha256sum or shasum is needed" >&2; exit 2
  fi
fi
case $sumtool in
  sha256sum|shasum) command -v "$sumtool" >/dev/null 2>&1 || { echo "$prog: $sumtool not found" >&2; exit 2; } ;;
  *) echo "$prog: CALLREC_SUM_TOOL must be sha256sum or shasum" >&2; exit 2 ;;
esac
checksums() {
  if [ "$sumtool" = sha256sum ]; then sha256sum -c "$1"; else shasum -a 256 -c "$1"; fi
}

tmp=
cleanup() {
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
tmp=$(mktemp -d 2>/dev/null) || tmp=
if [ -z "$tmp" ]; then
  tmp=${TMPDIR:-/tmp}/callrec-verify.$$
  (umask 077 && mkdir "$tmp") || { tmp=; echo "$prog: cannot make a temporary folder" >&2; exit 2; }
fi

cd "$dir" || { echo "$prog: cannot enter $dir" >&2; exit 2; }

problems=0
ok() { printf 'OK      %s\n' "$*"; }
failed() { printf 'FAILED  %s\n' "$*"; problems=$((problems + 1)); }

if [ "$dir" = . ]; then echo "recording:   $name"; else echo "recording:   $dir/$name"; fi
echo "certificate: $cert"
subject=$(openssl x509 -in "$cert" -noout -subject 2>/dev/null) || subject=
fingerprint=$(openssl x509 -in "$cert" -noout -fingerprint -sha256 2>/dev/null) || fingerprint=
if [ -z "$subject" ] || ! openssl x509 -in "$cert" -noout -pubkey > "$tmp/pub.pem" 2>/dev/null; then
  failed "$cert: not a readable X.509 certificate"
else
  echo "             $subject"
  echo "             ${fingerprint#*=} (SHA-256 fingerprint)"
fi
echo

# 1. The three evidence files.
for f in "$info" "$hash" "$sig"; do
  if [ -f "$f" ]; then ok "$f: present"; else failed "$f: missing"; fi
done

# 2. Checksums, named relative to this folder.
sumfailed=0
if [ -f "$hash" ]; then
  covered=no
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in
      *"  $info"|*" *$info") covered=yes ;;
    esac
  done < "$hash"
  if [ "$covered" = yes ]; then ok "$hash: covers $info"; else failed "$hash: does not list $info"; fi

  out=$(checksums "./$hash" 2>"$tmp/sum.err")
  sumstatus=$?
  listed=0
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    case $line in
      *': OK') ok "${line%: OK}: checksum matches ($sumtool)"; listed=$((listed + 1)) ;;
      *': FAILED open or read') failed "${line%: FAILED open or read}: missing or unreadable"; listed=$((listed + 1)); sumfailed=1 ;;
      *': FAILED') failed "${line%: FAILED}: checksum does not match: the file was altered"; listed=$((listed + 1)); sumfailed=1 ;;
      *) echo "        $line" ;;
    esac
  done <<EOF
$out
EOF
  if [ "$sumstatus" -ne 0 ] && [ "$listed" -eq 0 ]; then
    failed "$hash: $sumtool cannot read it: $(head -n 1 "$tmp/sum.err")"
  elif [ "$sumstatus" -ne 0 ] && [ "$sumfailed" -eq 0 ]; then
    failed "$hash: $sumtool reported a problem: $(head -n 1 "$tmp/sum.err")"
  fi
fi

# 3. Signature of the hash file.
if [ -f "$hash" ] && [ -f "$sig" ] && [ -s "$tmp/pub.pem" ]; then
  tr -d ' \t\r\n' < "$sig" > "$tmp/sig.b64"
  if ! openssl base64 -d -A -in "$tmp/sig.b64" -out "$tmp/sig.bin" 2>/dev/null || [ ! -s "$tmp/sig.bin" ]; then
    failed "$sig: not base64"
  elif openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/sig.bin" "./$hash" >"$tmp/dgst.out" 2>&1; then
    ok "$sig: valid signature of $hash by this certificate"
  else
    # Which file changed? Open the signature with the public key: a well-formed
    # SHA-256 DigestInfo means a genuine signature, so the hash file changed.
    recovered=
    if openssl pkeyutl -verifyrecover -pubin -inkey "$tmp/pub.pem" -in "$tmp/sig.bin" -out "$tmp/rec.bin" 2>/dev/null; then
      recovered=$(od -An -v -tx1 "$tmp/rec.bin" | tr -d ' \n')
    fi
    case $recovered in
      3031300d060960864801650304020105000420????????????????????????????????????????????????????????????????)
        failed "$hash: altered after signing (its signature $sig is genuine but was made over other bytes)"
        if [ "$sumfailed" -ne 0 ]; then
          echo "        (the checksum failures above may come from altered lines of $hash)"
        fi ;;
      *)
        failed "$sig: not a signature of $hash by this certificate (the signature file was altered, or another key signed)" ;;
    esac
  fi
fi

echo
if [ "$problems" -eq 0 ]; then
  echo "RESULT: intact: all checksums match and the signature is valid"
  exit 0
fi
echo "RESULT: NOT INTACT: $problems problem(s), see FAILED above"
exit 1
