# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (the SQLite driver needs no cgo), so the binary is static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bot ./cmd/bot

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bot /bot
# The embedded SQLite file lives here; mount a volume to keep it across restarts.
WORKDIR /data
ENV PORT=8080 DATABASE_URL=/data/deepagents-slack.db
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/bot"]
CMD ["serve"]
