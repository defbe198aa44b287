module github.com/attributor/attributor

go 1.26.8
