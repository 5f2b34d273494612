module gorm.io/gorm/tests

go 1.18
