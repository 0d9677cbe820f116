# Builds the service jar and runs it on a JRE. Routes are read from /app/routes (mount your own over it).
FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY .mvn .mvn
COPY mvnw pom.xml ./
RUN ./mvnw -B -q dependency:go-offline
COPY src src
RUN ./mvnw -B -q -DskipTests package && cp target/calsync-*.jar /src/calsync.jar
# the jar extracted: the application in calsync.jar, the libraries as plain jars in lib/ (no nested-jar class loading)
RUN java -Djarmode=tools -jar /src/calsync.jar extract --destination /src/app

FROM eclipse-temurin:17-jre
RUN useradd --system --uid 10001 calsync
WORKDIR /app
COPY --from=build /src/app /app
COPY routes /app/routes
# class data sharing: a training run creates the application context (no database needed: Flyway off, nothing
# starts), exits, and leaves the classes it loaded, parsed and verified in calsync.jsa for every start of this image
RUN java -XX:ArchiveClassesAtExit=/app/calsync.jsa -Dspring.context.exit=onRefresh -jar /app/calsync.jar \
        --spring.flyway.enabled=false > /tmp/cds-training.log 2>&1 || (cat /tmp/cds-training.log; false)
USER calsync
# 8080: API, admin, actuator; 8082: the webhook listener
EXPOSE 8080 8082
ENTRYPOINT ["java", "-XX:SharedArchiveFile=/app/calsync.jsa", "-jar", "/app/calsync.jar"]
